//! Writes the seed corpora under `fuzz/seeds/<target>/`.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds [OUT_DIR]
//! ```
//!
//! Deterministic: the keys are the EIP-8 vector keys and every RNG is seeded, so running it again
//! rewrites identical files. Files are overwritten by name; files it does not produce (for
//! example interesting inputs copied in by hand) are left alone. Every seed is checked here to
//! reach the success path it was written for, so a seed that silently stopped decoding after an
//! API change makes this program fail instead.

use std::fs;
use std::path::{Path, PathBuf};

use ethp2p::p2p::{
    Capability, DISCONNECT, DisconnectReason, HELLO, Hello, MAX_MESSAGE_SIZE, PING, PING_PAYLOAD,
    decode_disconnect_message, decode_message, encode_message,
};
use ethp2p::rlpx::handshake::{PacketFormat, decode_ack, decode_auth};
use ethp2p::rlpx::{FrameCodec, HEADER_LEN, MAX_FRAME_SIZE, PeerId, ecies};
use ethp2p_fuzz::{
    check_ack, check_auth, eip8, handshake, public_a, public_b, seal_eip8, seal_legacy, static_a,
    static_b,
};

fn main() {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds"));
    let mut seeds = Seeds {
        root: out,
        count: 0,
    };
    handshake_seeds(&mut seeds);
    frame_seeds(&mut seeds);
    hello_seeds(&mut seeds);
    disconnect_seeds(&mut seeds);
    message_seeds(&mut seeds);
    discv5_seeds(&mut seeds);
    println!(
        "wrote {} seed files under {}",
        seeds.count,
        seeds.root.display()
    );
}

struct Seeds {
    root: PathBuf,
    count: usize,
}

impl Seeds {
    fn write(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("create seed dir");
        fs::write(dir.join(name), bytes).expect("write seed");
        self.count += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Handshake: the EIP-8 vectors as wire packets, and their decrypted bodies for handshake_body.

fn handshake_seeds(seeds: &mut Seeds) {
    let auths = [
        ("auth1_legacy.bin", eip8::AUTH1, PacketFormat::Legacy),
        ("auth2_eip8.bin", eip8::AUTH2, PacketFormat::Eip8),
        (
            "auth3_eip8_v56_extra_fields.bin",
            eip8::AUTH3,
            PacketFormat::Eip8,
        ),
    ];
    for (name, hex_lines, format) in auths {
        let packet = eip8::bytes(hex_lines);
        let auth = check_auth(&packet).expect("vector auth decodes");
        assert_eq!(auth.format, format);
        seeds.write("handshake_auth", name, &packet);
        let body = open(&static_b(), &packet, format);
        let flags = if format == PacketFormat::Legacy { 2 } else { 0 };
        seeds.write("handshake_body", name, &[&[flags][..], &body].concat());
    }
    let acks = [
        ("ack1_legacy.bin", eip8::ACK1, PacketFormat::Legacy),
        ("ack2_eip8.bin", eip8::ACK2, PacketFormat::Eip8),
        (
            "ack3_eip8_v57_extra_fields.bin",
            eip8::ACK3,
            PacketFormat::Eip8,
        ),
    ];
    for (name, hex_lines, format) in acks {
        let packet = eip8::bytes(hex_lines);
        let ack = check_ack(&packet).expect("vector ack decodes");
        assert_eq!(ack.format, format);
        seeds.write("handshake_ack", name, &packet);
        let body = open(&static_a(), &packet, format);
        let flags = if format == PacketFormat::Legacy { 3 } else { 1 };
        seeds.write("handshake_body", name, &[&[flags][..], &body].concat());
    }

    // The fixture handshake's packets: what our own initiator and recipient send.
    let fixture = handshake();
    check_auth(&fixture.auth).expect("fixture auth decodes");
    check_ack(&fixture.ack).expect("fixture ack decodes");
    seeds.write("handshake_auth", "fixture_auth_eip8.bin", &fixture.auth);
    seeds.write("handshake_ack", "fixture_ack_eip8.bin", &fixture.ack);

    // The bodies above must decode again once the fuzz target re-seals them.
    for (flags, key_is_a) in [(0u8, false), (2, false), (1, true), (3, true)] {
        let name = match flags {
            0 => "auth2_eip8.bin",
            2 => "auth1_legacy.bin",
            1 => "ack2_eip8.bin",
            _ => "ack1_legacy.bin",
        };
        let seed = fs::read(seeds.root.join("handshake_body").join(name)).expect("just written");
        let body = &seed[1..];
        let remote = if key_is_a { public_a() } else { public_b() };
        let packet = if flags & 2 != 0 {
            seal_legacy(&remote, body, 3)
        } else {
            seal_eip8(&remote, body, 3)
        };
        if key_is_a {
            decode_ack(&static_a(), &packet).expect("re-sealed ack body decodes");
        } else {
            decode_auth(&static_b(), &packet).expect("re-sealed auth body decodes");
        }
    }
}

/// Decrypts a handshake packet, returning the plaintext body (EIP-8 padding included).
fn open(key: &secp256k1::SecretKey, packet: &[u8], format: PacketFormat) -> Vec<u8> {
    let body = match format {
        PacketFormat::Legacy => ecies::decrypt(key, packet, &[]),
        PacketFormat::Eip8 => ecies::decrypt(key, &packet[2..], &packet[..2]),
    };
    body.expect("vector decrypts").to_vec()
}

// ---------------------------------------------------------------------------------------------
// Frames: real frames sealed by the fixture codecs (raw mode), and seal-mode recipes.

fn frame_seeds(seeds: &mut Seeds) {
    let fixture = handshake();
    let hello = message(HELLO, &geth_hello().encode(), false);
    let ping = message(PING, PING_PAYLOAD, true);

    // Raw mode, initiator -> recipient: two consecutive frames, Hello then a compressed Ping.
    let mut sender = FrameCodec::new(fixture.initiator.clone(), MAX_FRAME_SIZE);
    let mut wire = seal(&mut sender, &hello);
    wire.extend_from_slice(&seal(&mut sender, &ping));
    let mut receiver = FrameCodec::new(fixture.recipient.clone(), MAX_FRAME_SIZE);
    assert_eq!(
        open_all(&mut receiver, &wire),
        vec![hello.clone(), ping.clone()]
    );
    seeds.write(
        "frame_open",
        "raw_i2r_hello_ping.bin",
        &[&[0x00, 0xff, 0xff][..], &wire].concat(),
    );

    // Raw mode, recipient -> initiator, under a 1 KiB limit.
    let mut sender = FrameCodec::new(fixture.recipient.clone(), MAX_FRAME_SIZE);
    let wire = seal(&mut sender, &hello);
    let mut receiver = FrameCodec::new(fixture.initiator.clone(), 1024);
    assert_eq!(open_all(&mut receiver, &wire), vec![hello.clone()]);
    seeds.write(
        "frame_open",
        "raw_r2i_hello.bin",
        &[&[0x02, 0x04, 0x00][..], &wire].concat(),
    );

    // Raw mode, a valid frame above a 16-byte limit: rejected at the header.
    let mut sender = FrameCodec::new(fixture.initiator.clone(), MAX_FRAME_SIZE);
    let wire = seal(&mut sender, &hello);
    seeds.write(
        "frame_open",
        "raw_i2r_over_limit.bin",
        &[&[0x00, 0x00, 0x10][..], &wire].concat(),
    );

    // Seal mode recipes: ctrl, max (2), flip count, positions (3 each), [delta], payload.
    let payload = [&ping[..], &hello[..]].concat();
    let recipes: [(&str, Vec<u8>); 6] = [
        (
            "seal_two_frames.bin",
            [&[0x05, 0x04, 0x00, 0x00][..], &payload].concat(),
        ),
        (
            "seal_four_frames_r2i.bin",
            [&[0x0f, 0xff, 0xff, 0x00][..], &payload].concat(),
        ),
        (
            "seal_flip_header.bin",
            [&[0x01, 0xff, 0xff, 0x01, 0x00, 0x00, 0x05][..], &ping].concat(),
        ),
        (
            "seal_flip_body.bin",
            [&[0x01, 0xff, 0xff, 0x01, 0x00, 0x01, 0x08][..], &hello].concat(),
        ),
        (
            "seal_short_body.bin",
            [&[0x11, 0xff, 0xff, 0x00, 0xff][..], &hello].concat(),
        ),
        (
            "seal_over_limit.bin",
            [&[0x01, 0x00, 0x08, 0x00][..], &hello].concat(),
        ),
    ];
    for (name, bytes) in recipes {
        seeds.write("frame_open", name, &bytes);
    }
}

fn seal(codec: &mut FrameCodec, frame_data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; HEADER_LEN];
    buf.extend_from_slice(frame_data);
    codec.seal(&mut buf);
    buf
}

fn open_all(codec: &mut FrameCodec, mut wire: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        let mut header: [u8; HEADER_LEN] = wire[..HEADER_LEN].try_into().expect("header");
        let len = codec.open_header(&mut header).expect("header opens");
        let mut body = wire[HEADER_LEN..HEADER_LEN + len].to_vec();
        frames.push(codec.open_body(&mut body).expect("body opens").to_vec());
        wire = &wire[HEADER_LEN + len..];
    }
    frames
}

// ---------------------------------------------------------------------------------------------
// Hello.

fn geth_hello() -> Hello {
    Hello {
        protocol_version: 5,
        client_id: "Geth/v1.14.11-stable-f3c696fa/linux-amd64/go1.23.2".into(),
        capabilities: vec![Capability::new("eth", 68), Capability::new("snap", 1)],
        listen_port: 30303,
        id: PeerId::from_public_key(&public_a()).0,
    }
}

fn hello_seeds(seeds: &mut Seeds) {
    let hellos = [
        ("geth_v5.bin", geth_hello()),
        (
            "reth_v5_three_eth_versions.bin",
            Hello {
                protocol_version: 5,
                client_id: "reth/v1.1.0-1ba631b/x86_64-unknown-linux-gnu".into(),
                capabilities: vec![
                    Capability::new("eth", 66),
                    Capability::new("eth", 67),
                    Capability::new("eth", 68),
                ],
                listen_port: 30303,
                id: PeerId::from_public_key(&public_b()).0,
            },
        ),
        (
            "v4_no_caps_port0.bin",
            Hello {
                protocol_version: 4,
                client_id: "ethp2p/0.1.0".into(),
                capabilities: vec![],
                listen_port: 0,
                id: PeerId::from_public_key(&public_a()).0,
            },
        ),
    ];
    for (name, hello) in hellos {
        let bytes = hello.encode();
        assert_eq!(Hello::decode(&bytes).as_ref(), Ok(&hello));
        seeds.write("p2p_hello", name, &bytes);
    }

    // Forward compatibility, built by hand: an extra element inside a capability entry, extra
    // elements after nodeKey, and trailing bytes after the list.
    let id = PeerId::from_public_key(&public_a()).0;
    let extended = rlp_list(&[
        rlp_uint(5),
        rlp_bytes(b"Nethermind/v1.29.0+1e1e6b6e/linux-x64/dotnet8.0.10"),
        rlp_list(&[
            rlp_list(&[rlp_bytes(b"eth"), rlp_uint(68), rlp_bytes(b"future")]),
            rlp_list(&[rlp_bytes(b"snap"), rlp_uint(1)]),
        ]),
        rlp_uint(30303),
        rlp_bytes(&id),
        rlp_uint(0x1234),
        rlp_list(&[rlp_bytes(b"more"), rlp_list(&[])]),
    ]);
    let hello = Hello::decode(&extended).expect("extended Hello decodes");
    assert_eq!(hello.capabilities.len(), 2);
    seeds.write("p2p_hello", "extra_fields.bin", &extended);
    seeds.write(
        "p2p_hello",
        "trailing_bytes.bin",
        &[&geth_hello().encode()[..], &[0x80]].concat(),
    );
}

// ---------------------------------------------------------------------------------------------
// Disconnect: every encoding seen in practice.

fn disconnect_seeds(seeds: &mut Seeds) {
    let snappy = |raw: &[u8]| {
        snap::raw::Encoder::new()
            .compress_vec(raw)
            .expect("tiny input")
    };
    let cases: [(&str, Vec<u8>, bool, DisconnectReason); 9] = [
        (
            "list_too_many_peers.bin",
            vec![0xc1, 0x04],
            false,
            DisconnectReason::TooManyPeers,
        ),
        (
            "list_requested.bin",
            vec![0xc1, 0x80],
            false,
            DisconnectReason::DisconnectRequested,
        ),
        (
            "list_old_geth_zero.bin",
            vec![0xc1, 0x00],
            false,
            DisconnectReason::DisconnectRequested,
        ),
        (
            "empty_list.bin",
            vec![0xc0],
            false,
            DisconnectReason::DisconnectRequested,
        ),
        (
            "bare_useless_peer.bin",
            vec![0x03],
            false,
            DisconnectReason::UselessPeer,
        ),
        (
            "bare_zero_byte.bin",
            vec![0x00],
            false,
            DisconnectReason::DisconnectRequested,
        ),
        (
            "list_unknown_0x99.bin",
            vec![0xc2, 0x81, 0x99],
            false,
            DisconnectReason::Unknown(0x99),
        ),
        (
            "list_extra_element.bin",
            vec![0xc2, 0x04, 0x80],
            false,
            DisconnectReason::TooManyPeers,
        ),
        (
            "snappy_list_subprotocol.bin",
            snappy(&DisconnectReason::SubprotocolError.encode()),
            true,
            DisconnectReason::SubprotocolError,
        ),
    ];
    for (name, bytes, snappy_on, reason) in cases {
        assert_eq!(
            decode_disconnect_message(&bytes, snappy_on),
            Ok(reason),
            "{name}"
        );
        seeds.write("p2p_disconnect", name, &bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// Messages: frame data, compressed and not.

fn message(code: u64, payload: &[u8], compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_message(code, payload, compress, &mut out).expect("small message");
    assert_eq!(
        decode_message(&out, compress, MAX_MESSAGE_SIZE),
        Ok((code, payload.to_vec()))
    );
    out
}

fn message_seeds(seeds: &mut Seeds) {
    // An eth/68 Status-like payload: [version, networkid, td, blockhash, genesis, forkid].
    let status = rlp_list(&[
        rlp_uint(68),
        rlp_uint(1),
        rlp_bytes(&[0x0c, 0x70, 0xd8, 0x15, 0xd5, 0x62, 0xd3, 0xcf, 0xa9, 0x55]),
        rlp_bytes(&[0x5a; 32]),
        rlp_bytes(
            &hex::decode("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3")
                .expect("hex"),
        ),
        rlp_list(&[rlp_bytes(&[0x9f, 0x3d, 0x22, 0x54]), rlp_uint(0)]),
    ]);
    // Repetitive data, so the compressed form contains back-references.
    let repetitive: Vec<u8> = (0..2000u32).map(|i| (i % 13) as u8).collect();
    let cases = [
        ("ping_plain.bin", message(PING, PING_PAYLOAD, false)),
        ("ping_snappy.bin", message(PING, PING_PAYLOAD, true)),
        (
            "hello_plain.bin",
            message(HELLO, &geth_hello().encode(), false),
        ),
        (
            "disconnect_snappy.bin",
            message(DISCONNECT, &DisconnectReason::TooManyPeers.encode(), true),
        ),
        (
            "disconnect_plain.bin",
            message(DISCONNECT, &[0xc1, 0x04], false),
        ),
        ("status_snappy.bin", message(0x10, &status, true)),
        ("repetitive_snappy.bin", message(0x15, &repetitive, true)),
        ("large_code_snappy.bin", message(0x1234, &status, true)),
        ("empty_payload_snappy.bin", message(0x11, &[], true)),
    ];
    for (name, bytes) in cases {
        seeds.write("p2p_message", name, &bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal RLP encoder for hand-built inputs.

fn rlp_header(len: usize, short: u8, long: u8) -> Vec<u8> {
    if len < 56 {
        return vec![short + len as u8];
    }
    let be = len.to_be_bytes();
    let skip = be.iter().take_while(|&&b| b == 0).count();
    let mut out = vec![long + (be.len() - skip) as u8];
    out.extend_from_slice(&be[skip..]);
    out
}

fn rlp_bytes(bytes: &[u8]) -> Vec<u8> {
    if let [b] = bytes
        && *b < 0x80
    {
        return vec![*b];
    }
    [rlp_header(bytes.len(), 0x80, 0xb7), bytes.to_vec()].concat()
}

fn rlp_uint(value: u64) -> Vec<u8> {
    let be = value.to_be_bytes();
    let skip = be.iter().take_while(|&&b| b == 0).count();
    rlp_bytes(&be[skip..])
}

fn rlp_list(items: &[Vec<u8>]) -> Vec<u8> {
    let payload = items.concat();
    [rlp_header(payload.len(), 0xc0, 0xf7), payload].concat()
}

// ---------------------------------------------------------------------------------------------
// discv5: the wire vectors' packets (raw and with the header in plaintext), one plaintext per
// message type, and handshake recipes.

fn discv5_seeds(seeds: &mut Seeds) {
    use ethp2p_discovery::v5::packet::{self, AuthData, MAX_PACKET_SIZE};
    use ethp2p_discovery::v5::{Message, RequestId};
    use ethp2p_fuzz::discv5::{VECTOR_PACKETS, mask_for_b, record_a, record_b};

    let mut handshake_authdata = Vec::new();
    for (name, hex_text) in VECTOR_PACKETS {
        let packet = hex::decode(hex_text).expect("vector hex");
        let mut buf = [0u8; MAX_PACKET_SIZE];
        let unmasked =
            packet::unmask(&record_b().id(), &packet, &mut buf).expect("vector packet unmasks");
        if name == "ping_handshake_enr" {
            assert!(matches!(unmasked.auth, AuthData::Handshake(_)));
            let authdata = &unmasked.header[39..];
            handshake_authdata.extend_from_slice(&(authdata.len() as u16).to_be_bytes());
            handshake_authdata.extend_from_slice(authdata);
            handshake_authdata.extend_from_slice(unmasked.message);
        }
        seeds.write(
            "discv5_packet",
            &format!("{name}.bin"),
            &[&[0u8][..], &packet].concat(),
        );
        let plaintext = mask_for_b(&packet);
        assert_eq!(mask_for_b(&plaintext), packet, "masking is its own inverse");
        seeds.write(
            "discv5_packet",
            &format!("{name}_plaintext_header.bin"),
            &[&[1u8][..], &plaintext].concat(),
        );
    }

    let id = |bytes: &[u8]| RequestId::new(bytes).expect("at most 8 bytes");
    let messages = [
        (
            "ping.bin",
            Message::Ping {
                request_id: id(&[0, 0, 0, 1]),
                enr_seq: 2,
            },
        ),
        (
            "pong_ip4.bin",
            Message::Pong {
                request_id: RequestId::from_u64(0x0102_0304_0506_0708),
                enr_seq: 1,
                to_ip: [127, 0, 0, 1].into(),
                to_port: 30303,
            },
        ),
        (
            "pong_ip6.bin",
            Message::Pong {
                request_id: id(&[]),
                enr_seq: 3,
                to_ip: std::net::Ipv6Addr::LOCALHOST.into(),
                to_port: 9000,
            },
        ),
        (
            "findnode.bin",
            Message::FindNode {
                request_id: id(&[7]),
                distances: vec![0, 255, 256],
            },
        ),
        (
            "nodes.bin",
            Message::Nodes {
                request_id: id(&[7]),
                total: 2,
                records: vec![record_a().clone(), record_b().clone()],
            },
        ),
        (
            "talkreq.bin",
            Message::TalkReq {
                request_id: id(&[1, 2, 3, 4]),
                protocol: b"test-protocol".to_vec(),
                request: b"hello".to_vec(),
            },
        ),
        (
            "talkresp_empty.bin",
            Message::TalkResp {
                request_id: id(&[]),
                response: Vec::new(),
            },
        ),
    ];
    for (name, message) in &messages {
        let plaintext = message.encode();
        assert_eq!(Message::decode(&plaintext).as_ref(), Ok(message));
        seeds.write("discv5_message", name, &plaintext);
    }

    let ping = messages[0].1.encode();
    let nodes = messages[4].1.encode();
    let recipes: [(&str, Vec<u8>); 6] = [
        (
            "forged_vector_authdata.bin",
            [&[0u8][..], &handshake_authdata].concat(),
        ),
        ("genuine_ping_with_record.bin", [&[1u8][..], &ping].concat()),
        (
            "genuine_ping_record_known.bin",
            [&[5u8][..], &ping].concat(),
        ),
        ("genuine_nodes.bin", [&[1u8][..], &nodes].concat()),
        ("tampered.bin", vec![2, 0x00, 0x30, 0x01]),
        ("other_address.bin", vec![3, 0x76, 0x5f]),
    ];
    for (name, bytes) in recipes {
        seeds.write("discv5_handshake", name, &bytes);
    }

    // discv5_service: operation lists (see the target's header). A message operation carries
    // a plaintext that must decode, or the target skips it.
    let send = |message: &Message| {
        let plaintext = message.encode();
        assert_eq!(Message::decode(&plaintext).as_ref(), Ok(message));
        [&[1u8, plaintext.len() as u8][..], &plaintext].concat()
    };
    let findnode = &messages[3].1;
    let talkreq = &messages[5].1;
    let served = |request_id: u8| Message::TalkReq {
        request_id: id(&[request_id]),
        protocol: b"served".to_vec(),
        request: vec![request_id],
    };
    let conversations: [(&str, Vec<u8>); 5] = [
        // A asks B's served protocol six times: four wait, two find no room; B answers one,
        // the others pass their deadline.
        (
            "served_talk.bin",
            [
                (1..=6).flat_map(|i| send(&served(i))).collect::<Vec<u8>>(),
                vec![5 | 8, 1, 2, 3, 4, 5, 6, 7, 8, 2, 30],
            ]
            .concat(),
        ),
        // A pings B: WHOAREYOU, handshake, PONG; B pings A back and A answers.
        ("a_pings_b.bin", send(&messages[0].1)),
        // B asks A everything, A answering with two NODES messages of records.
        (
            "b_asks_a.bin",
            [
                &[4u8, 0x1c][..],
                &[3, 3 | 1 << 3, 1, 3 | 2 << 3, 0][..],
                b"hello".as_slice(),
                &[0u8; 11][..],
                &[3 | 3 << 3, 2, 50][..],
            ]
            .concat(),
        ),
        // A asks B, drops its session and asks again (a second handshake).
        (
            "a_rehandshakes.bin",
            [send(findnode), vec![5], send(talkreq)].concat(),
        ),
        // A goes silent: B's PING times out and is retried; garbage from a stranger meanwhile.
        (
            "a_silent.bin",
            [
                &[4u8, 1, 3][..],
                &[2, 40, 0x20, 2][..],
                &[0u8; 12][..],
                &[2, 200][..],
            ]
            .concat(),
        ),
    ];
    for (name, bytes) in conversations {
        seeds.write("discv5_service", name, &bytes);
    }
}

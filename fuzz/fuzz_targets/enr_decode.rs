//! Node record (EIP-778) decoding, three ways from the same input:
//!
//! 1. the input as a record's RLP (`Enr::decode`): almost every mutation breaks the signature,
//!    so this mostly exercises the size, RLP and signature checks;
//! 2. the input as the text form (`enr:<base64url>`, when it is UTF-8);
//! 3. the input as the signed content `seq, k, v, ...` (the payload of the RLP list
//!    `[seq, k, v, ...]`): it is wrapped and signed with a fixed key, so the parser behind the
//!    signature (sequence number, key order, known values, unknown values) is reached.
//!
//! Any record that decodes must re-encode to exactly the input bytes, decode again to an equal
//! record (so it verifies), and round-trip through its text form. In mode 3, rebuilding it with
//! `to_builder().build(key)` must reproduce the signed record byte for byte: the builder and the
//! decoder agree on the encoding and signing is deterministic (RFC 6979).

#![no_main]

use std::sync::OnceLock;

use ethp2p_discovery::{Enr, MAX_RECORD_SIZE, NodeId};
use libfuzzer_sys::fuzz_target;
use secp256k1::{Message, SecretKey};
use sha3::{Digest, Keccak256};

/// The private key of the EIP-778 example record.
const KEY: [u8; 32] = [
    0xb7, 0x1c, 0x71, 0xa6, 0x7e, 0x11, 0x77, 0xad, 0x4e, 0x90, 0x16, 0x95, 0xe1, 0xb4, 0xb9, 0xee,
    0x17, 0xae, 0x16, 0xc6, 0x66, 0x8d, 0x31, 0x3e, 0xac, 0x2f, 0x96, 0xdb, 0xcd, 0xa3, 0xf2, 0x91,
];

fn key() -> &'static SecretKey {
    static KEY_CELL: OnceLock<SecretKey> = OnceLock::new();
    KEY_CELL.get_or_init(|| SecretKey::from_secret_bytes(KEY).expect("valid key"))
}

fuzz_target!(|data: &[u8]| {
    // 1. Raw RLP.
    if let Ok(enr) = Enr::decode(data) {
        check(&enr, data);
    }

    // 2. Text form.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(enr) = text.parse::<Enr>()
    {
        assert_eq!(enr.to_string(), text.trim(), "text form is not canonical");
        check(&enr, &enr.to_rlp());
    }

    // 3. Signed content. Anything that cannot fit in 300 bytes once wrapped is rejected by size
    // alone; skip the signing work for it.
    if data.len() <= MAX_RECORD_SIZE {
        let record = sign(data, key());
        match Enr::decode(&record) {
            Ok(enr) => {
                check(&enr, &record);
                let rebuilt = enr
                    .to_builder()
                    .build(key())
                    .expect("rebuilding a valid record");
                assert_eq!(rebuilt.encoded(), record, "builder disagrees with decoder");
            }
            Err(_) => assert!(
                Enr::decode(&record).is_err(),
                "decoding is not deterministic"
            ),
        }
    }
});

/// Invariants of a successfully decoded record that was decoded from `input`.
fn check(enr: &Enr, input: &[u8]) {
    assert!(input.len() <= MAX_RECORD_SIZE);
    assert_eq!(enr.encoded(), input, "re-encoding differs from the input");
    let again = Enr::decode(&enr.to_rlp()).expect("a decoded record decodes again");
    assert_eq!(&again, enr);
    let text = enr.to_string();
    assert_eq!(text.parse::<Enr>().as_ref(), Ok(enr), "text round trip");

    assert_eq!(enr.id(), NodeId::from_peer_id(&enr.peer_id()));
    assert_eq!(enr.get("id"), Some(&b"\x82v4"[..]));
    assert!(enr.get("secp256k1").is_some());
    assert_eq!(enr.ip4().is_some(), enr.get("ip").is_some());
    assert_eq!(enr.ip6().is_some(), enr.get("ip6").is_some());
    assert_eq!(enr.tcp4().is_some(), enr.get("tcp").is_some());
    assert_eq!(enr.udp4().is_some(), enr.get("udp").is_some());
    assert_eq!(enr.tcp6().is_some(), enr.get("tcp6").is_some());
    assert_eq!(enr.udp6().is_some(), enr.get("udp6").is_some());
    let keys: Vec<&[u8]> = enr.iter().map(|(k, _)| k).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys not sorted");
    assert_eq!(
        enr.to_enode().is_some(),
        enr.ip4().is_some() || enr.ip6().is_some()
    );
    let _ = format!("{enr:?}");
}

/// Appends an RLP list header for `len` payload bytes.
fn list_header(len: usize, out: &mut Vec<u8>) {
    if len < 56 {
        out.push(0xc0 + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(0xf7 + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

/// The record `[signature, content...]` with `content` signed as the v4 scheme does.
fn sign(content: &[u8], key: &SecretKey) -> Vec<u8> {
    let mut signed = Vec::with_capacity(content.len() + 9);
    list_header(content.len(), &mut signed);
    signed.extend_from_slice(content);
    let hash: [u8; 32] = Keccak256::digest(&signed).into();
    let signature = secp256k1::ecdsa::sign(Message::from_digest(hash), key).serialize_compact();
    let mut payload = Vec::with_capacity(66 + content.len());
    payload.extend_from_slice(&[0xb8, 64]);
    payload.extend_from_slice(&signature);
    payload.extend_from_slice(content);
    let mut record = Vec::with_capacity(payload.len() + 9);
    list_header(payload.len(), &mut record);
    record.extend_from_slice(&payload);
    record
}

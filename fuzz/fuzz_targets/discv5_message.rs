//! discv5 message decoding (`v5::Message::decode`) of a decrypted plaintext
//! `message-type || rlp(message-data)`.
//!
//! Checks: a decoded message has a request id of at most 8 bytes, re-encodes to exactly the
//! input (the decoder accepts only canonical RLP and exact field counts) except for a PONG to an
//! IPv4-mapped IPv6 address, which is sent as 4 bytes; the re-encoding decodes to the same
//! message.

#![no_main]

use std::net::IpAddr;

use ethp2p_discovery::v5::Message;
use ethp2p_discovery::v5::message::MAX_REQUEST_ID_SIZE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::decode(data) else {
        return;
    };
    assert!(message.request_id().as_bytes().len() <= MAX_REQUEST_ID_SIZE);
    assert_eq!(message.kind(), data[0]);
    let encoded = message.encode();
    let again = Message::decode(&encoded).expect("a re-encoded message decodes");
    match &message {
        Message::Pong {
            to_ip: IpAddr::V6(ip),
            ..
        } if ip.to_ipv4_mapped().is_some() => {
            let Message::Pong { to_ip, .. } = again else {
                panic!("not a PONG");
            };
            assert_eq!(to_ip, ip.to_canonical());
        }
        _ => {
            assert_eq!(encoded, data, "re-encoding changed the message");
            assert_eq!(again, message);
        }
    }
});

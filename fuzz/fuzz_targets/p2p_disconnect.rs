//! Disconnect `msg-data` decoding, as received (before any decompression), with snappy both off
//! and on. Every decoded reason must round-trip through its canonical encodings: the list
//! `[reason]`, the bare reason, and (snappy on) the compressed list.

#![no_main]

use ethp2p::p2p::{DisconnectReason, decode_disconnect_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plain = DisconnectReason::decode(data);
    assert_eq!(decode_disconnect_message(data, false), plain);
    let snappy = decode_disconnect_message(data, true);
    for reason in [plain, snappy].into_iter().flatten() {
        check_reason(reason);
    }
});

fn check_reason(reason: DisconnectReason) {
    let code = reason.to_u8();
    assert_eq!(
        DisconnectReason::from(code),
        reason,
        "decoding produced a non-canonical value"
    );
    assert_eq!(u8::from(reason), code);
    assert!(!reason.to_string().is_empty());

    let list = reason.encode();
    let bare = if code == 0 {
        vec![0x80]
    } else if code < 0x80 {
        vec![code]
    } else {
        vec![0x81, code]
    };
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&list)
        .expect("tiny input");
    for (form, bytes) in [("list", &list), ("bare", &bare)] {
        assert_eq!(DisconnectReason::decode(bytes), Ok(reason), "{form} form");
        for snappy_on in [false, true] {
            assert_eq!(
                decode_disconnect_message(bytes, snappy_on),
                Ok(reason),
                "raw {form} form, snappy on: {snappy_on}"
            );
        }
    }
    assert_eq!(
        decode_disconnect_message(&compressed, true),
        Ok(reason),
        "compressed list"
    );
}

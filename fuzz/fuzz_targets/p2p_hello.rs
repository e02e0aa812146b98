//! Hello `msg-data` decoding. Any Hello that decodes must survive `encode` -> `decode` unchanged,
//! respect the documented limits, and re-encode to the same bytes a second time.

#![no_main]

use ethp2p::p2p::{
    HELLO, Hello, MAX_CAPABILITIES, MAX_CAPABILITY_NAME_LEN, MAX_MESSAGE_SIZE, decode_message,
    encode_message,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(hello) = Hello::decode(data) else {
        return;
    };
    assert!(hello.capabilities.len() <= MAX_CAPABILITIES);
    for cap in &hello.capabilities {
        assert!(!cap.name.is_empty() && cap.name.len() <= MAX_CAPABILITY_NAME_LEN);
        assert!(
            cap.name.bytes().all(|b| b.is_ascii_graphic()),
            "bad name {:?}",
            cap.name
        );
    }

    let encoded = hello.encode();
    let again = Hello::decode(&encoded).expect("a re-encoded Hello decodes");
    assert_eq!(again, hello);
    assert_eq!(again.encode(), encoded, "encoding is not stable");

    // The same through message framing (Hello is never compressed).
    let mut frame = Vec::new();
    encode_message(HELLO, &encoded, false, &mut frame).expect("Hello fits a message");
    let (code, payload) = decode_message(&frame, false, MAX_MESSAGE_SIZE).expect("framed Hello");
    assert_eq!(code, HELLO);
    assert_eq!(Hello::decode(&payload).as_ref(), Ok(&hello));
});

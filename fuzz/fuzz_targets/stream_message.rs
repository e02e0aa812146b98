//! `stream/1` messages (byte streams over a peer), as the handler receives them: the first input
//! byte is the protocol-relative code (taken modulo 8, so unknown codes are reached too), the
//! rest the payload. A decoded message respects the size limits, and its encoding decodes to the
//! same message (exactly the input when the input had no extra list elements).

#![no_main]

use ethp2p::streams::wire::{LENGTH, MAX_DATA, MAX_NAME_LEN, MAX_WINDOW};
use ethp2p::streams::{StreamMessage, WireError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&code, payload)) = data.split_first() else {
        return;
    };
    let code = u64::from(code % 8);
    match StreamMessage::decode(code, payload) {
        Ok(message) => {
            assert!(code < LENGTH);
            match message {
                StreamMessage::Open { name, window, .. } => {
                    assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN);
                    assert!(window <= MAX_WINDOW);
                }
                StreamMessage::Probe { name, .. } => {
                    assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN);
                }
                StreamMessage::Accept { window, .. } => assert!(window <= MAX_WINDOW),
                StreamMessage::Data { bytes, .. } => assert!(bytes.len() <= MAX_DATA),
                StreamMessage::Window { credit, .. } => assert!(credit <= MAX_WINDOW),
                StreamMessage::Close { .. } | StreamMessage::Reset { .. } => {}
            }
            let (again, encoded) = message.encode();
            assert_eq!(again, code);
            assert!(encoded.len() <= payload.len());
            assert_eq!(StreamMessage::decode(again, &encoded), Ok(message));
        }
        Err(WireError::UnknownCode(unknown)) => assert!(unknown >= LENGTH),
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});

//! Message framing inside an RLPx frame: `rlp(msg-id) || msg-data`, with `msg-data` snappy
//! compressed or not, under the 16 MiB limit of rlpx.md. The input is the frame data.
//!
//! Both settings run on every input. The allocating and the buffer-reusing decoders must agree;
//! a failed decode leaves the reused buffer empty; a decoded payload respects the limit, is
//! rejected by a limit one byte smaller, and survives `encode_message` -> `decode_message`
//! (uncompressed: re-encoding gives back the input exactly, since ids must be canonical).
//! Base-protocol payloads are also fed to their own decoders, and the session's rules
//! (`p2p::rules::receive`) read every input as the plain split does.

#![no_main]

use std::cell::RefCell;

use ethp2p::p2p::{
    BASE_PROTOCOL_LENGTH, DISCONNECT, HELLO, Hello, MAX_MESSAGE_SIZE, P2pError, Received,
    Violation, decode_disconnect_message, decode_message, decode_message_into, encode_message,
    rules, split_message_code,
};
use libfuzzer_sys::fuzz_target;

thread_local! {
    /// Reused across iterations, as a connection reuses its buffer across messages.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fuzz_target!(|data: &[u8]| {
    for compressed in [false, true] {
        check(data, compressed);
    }
});

fn check(data: &[u8], compressed: bool) {
    match (split_message_code(data), rules::receive(data, compressed)) {
        (Err(error), rule) => assert_eq!(rule, Err(Violation::Malformed(error))),
        (Ok((HELLO, _)), rule) => assert_eq!(rule, Err(Violation::UnexpectedHello)),
        (Ok((code, raw)), Ok(Received::Subprotocol { code: c, raw: r })) => {
            assert!(code >= BASE_PROTOCOL_LENGTH && (code, raw) == (c, r));
        }
        (Ok((code, _)), Ok(rule)) => assert!(code < BASE_PROTOCOL_LENGTH, "{rule:?}"),
        (Ok(split), Err(violation)) => panic!("{split:?} split, but {violation}"),
    }
    let fresh = decode_message(data, compressed, MAX_MESSAGE_SIZE);
    let reused = BUFFER.with_borrow_mut(|buffer| {
        let result = decode_message_into(data, compressed, MAX_MESSAGE_SIZE, buffer);
        if result.is_err() {
            assert!(
                buffer.is_empty(),
                "failed decode left {} bytes behind",
                buffer.len()
            );
        }
        result.map(|code| (code, buffer.clone()))
    });
    assert_eq!(fresh, reused);
    let Ok((code, payload)) = fresh else {
        return;
    };
    assert!(payload.len() <= MAX_MESSAGE_SIZE);

    let (split_code, raw) = split_message_code(data).expect("decoded, so it splits");
    assert_eq!(split_code, code);
    if compressed {
        assert_eq!(snap::raw::decompress_len(raw).ok(), Some(payload.len()));
    } else {
        assert_eq!(raw, &payload[..]);
    }

    if let Some(smaller) = payload.len().checked_sub(1) {
        assert_eq!(
            decode_message(data, compressed, smaller),
            Err(P2pError::MessageTooLarge {
                size: payload.len(),
                limit: smaller
            })
        );
    }

    let mut encoded = Vec::new();
    encode_message(code, &payload, compressed, &mut encoded).expect("within the limit");
    if !compressed {
        assert_eq!(
            encoded, data,
            "uncompressed re-encoding differs from the input"
        );
    }
    assert_eq!(
        decode_message(&encoded, compressed, MAX_MESSAGE_SIZE),
        Ok((code, payload.clone()))
    );

    match code {
        HELLO => {
            let _ = Hello::decode(&payload);
        }
        DISCONNECT => {
            let _ = decode_disconnect_message(raw, compressed);
        }
        _ => {}
    }
}

//! The base protocol's rules for a message received after Hello, as one pure function that both
//! runtimes (the peer's read loop and [`P2pConnection`](super::P2pConnection)) only act on:
//! Ping is answered, Disconnect ends the session, Pong and codes the base protocol reserves but
//! does not define are ignored, a second Hello is a breach, and everything from
//! [`BASE_PROTOCOL_LENGTH`] on belongs to a subprotocol
//! ([rlpx.md, "p2p" capability](https://github.com/ethereum/devp2p/blob/master/rlpx.md#p2p-capability)).

use super::{
    BASE_PROTOCOL_LENGTH, DISCONNECT, DisconnectReason, HELLO, P2pError, PING, PONG,
    decode_disconnect_message, split_message_code,
};

/// What a message received after Hello asks of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received<'a> {
    /// Ping: answer with Pong ([`PONG_PAYLOAD`](super::PONG_PAYLOAD)).
    Ping,
    /// Pong: nothing to do beyond what any frame does (it proves the remote alive).
    Pong,
    /// A base-protocol code not defined yet: ignored, as go-ethereum does.
    Reserved(u64),
    /// Disconnect: the session ends (even when its reason cannot be decoded).
    Disconnect(Result<DisconnectReason, P2pError>),
    /// A subprotocol message: its wire code (offset included) and its payload as sent
    /// (snappy-compressed when snappy is on).
    Subprotocol {
        /// Wire code, at least [`BASE_PROTOCOL_LENGTH`].
        code: u64,
        /// The payload before decompression.
        raw: &'a [u8],
    },
}

/// A received message that breaks the base protocol: the session ends with
/// [`DisconnectReason::BreachOfProtocol`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// The frame holds no message code, or a malformed one.
    #[error("malformed message: {0}")]
    Malformed(#[from] P2pError),
    /// A second Hello.
    #[error("second Hello")]
    UnexpectedHello,
}

/// Reads the message in `frame` (decrypted frame data) by the base protocol's rules; `snappy`
/// says whether messages after Hello are compressed.
pub fn receive(frame: &[u8], snappy: bool) -> Result<Received<'_>, Violation> {
    let (code, raw) = split_message_code(frame)?;
    Ok(match code {
        HELLO => return Err(Violation::UnexpectedHello),
        DISCONNECT => Received::Disconnect(decode_disconnect_message(raw, snappy)),
        PING => Received::Ping,
        PONG => Received::Pong,
        code if code < BASE_PROTOCOL_LENGTH => Received::Reserved(code),
        code => Received::Subprotocol { code, raw },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::{PING_PAYLOAD, encode_message};

    fn message(code: u64, payload: &[u8], snappy: bool) -> Vec<u8> {
        let mut frame = Vec::new();
        encode_message(code, payload, snappy, &mut frame).unwrap();
        frame
    }

    #[test]
    fn every_code_range_gets_its_rule() {
        for snappy in [false, true] {
            let ping = message(PING, PING_PAYLOAD, snappy);
            assert_eq!(receive(&ping, snappy), Ok(Received::Ping));
            let pong = message(PONG, PING_PAYLOAD, snappy);
            assert_eq!(receive(&pong, snappy), Ok(Received::Pong));
            let reserved = message(0x0f, &[0xc0], snappy);
            assert_eq!(receive(&reserved, snappy), Ok(Received::Reserved(0x0f)));
            let bye = message(DISCONNECT, &DisconnectReason::TooManyPeers.encode(), snappy);
            assert_eq!(
                receive(&bye, snappy),
                Ok(Received::Disconnect(Ok(DisconnectReason::TooManyPeers)))
            );
            let hello = message(HELLO, &[0xc0], false);
            assert_eq!(receive(&hello, snappy), Err(Violation::UnexpectedHello));
            let sub = message(0x10, &[0xc1, 0x80], snappy);
            let Ok(Received::Subprotocol { code: 0x10, raw }) = receive(&sub, snappy) else {
                panic!("a subprotocol message");
            };
            assert_eq!(raw, &sub[1..]);
        }
        assert!(matches!(receive(&[], false), Err(Violation::Malformed(_))));
        // An undecodable reason still ends the session.
        let garbled = message(DISCONNECT, &[0xff, 0xff], false);
        let Ok(Received::Disconnect(Err(_))) = receive(&garbled, false) else {
            panic!("a Disconnect with an undecodable reason");
        };
    }
}
